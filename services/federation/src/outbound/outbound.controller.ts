import {
  type Catalogue,
  catalogueSchema,
  FEDERATION_CATALOGUE_SUBJECT,
  FEDERATION_FORWARD_SUBJECT,
  FEDERATION_PEERS_SUBJECT,
  GatewayError,
  type OutboundAnswer,
  type PeersReport,
  type RequestOf,
} from '@sg/contracts';
import { BusController, Ctx, MessagePattern, Payload, type BusContext } from '@sg/messaging';
import { Peers } from '../forward/peers.js';
import { agentAnswerOf } from './remote-answer.js';
import { PeerClient } from './peer-client.js';
import { PeerHealth } from './peer-health.js';

/**
 * The outbound side of federation, for the ingress: a call this gateway allowed, sent signed to
 * the peer it names (`gw.federation.forward.v1`), a peer's catalogue
 * (`gw.federation.catalogue.v1`), and the peers' health (`gw.federation.peers.v1`). Only peers
 * of trusted_peers.yaml are reached, at the URL the file gives them.
 */
@BusController()
export class OutboundController {
  constructor(
    private readonly peers: Peers,
    private readonly client: PeerClient,
    private readonly health: PeerHealth,
  ) {}

  @MessagePattern(FEDERATION_FORWARD_SUBJECT)
  async forward(
    @Payload() req: RequestOf<typeof FEDERATION_FORWARD_SUBJECT>,
    @Ctx() ctx: BusContext,
  ): Promise<OutboundAnswer> {
    const peer = this.peers.target(req.peer);
    const self = this.peers.self!;
    const via = [...req.via, self];
    const hops = req.hops + 1;
    if (req.via.includes(peer.id) || req.via.includes(self))
      throw new GatewayError(
        'FEDERATION.LOOP_DETECTED',
        `the call already crossed ${req.via.includes(self) ? self : peer.id} (via ${req.via.join(' → ')}); it is not sent on to ${peer.id}`,
        { via },
      );
    if (hops > this.peers.maxHops)
      throw new GatewayError(
        'FEDERATION.LOOP_DETECTED',
        `sending the call on to ${peer.id} would make it ${hops} hops; at most ${this.peers.maxHops} are allowed here`,
        { via },
      );
    const body = JSON.stringify({
      project: req.project,
      agent_id: req.agent_id,
      session_id: req.session_id,
      request_id: req.request_id,
      ...(req.user_id ? { user_id: req.user_id } : {}),
      tool: req.tool,
      arguments: req.arguments,
      original_decision: req.original_decision,
      via,
      hops,
    });
    // Retried only if the peer's `retries` allow it: the peer may have run the tool.
    const answer = await this.client.send(
      peer,
      { method: 'POST', path: peer.config.url, body },
      ctx,
      {
        idempotent: true,
      },
    );
    return agentAnswerOf(peer.id, answer);
  }

  @MessagePattern(FEDERATION_CATALOGUE_SUBJECT)
  async catalogue(
    @Payload() req: RequestOf<typeof FEDERATION_CATALOGUE_SUBJECT>,
    @Ctx() ctx: BusContext,
  ): Promise<Catalogue> {
    const peer = this.peers.target(req.peer);
    const answer = await this.client.send(
      peer,
      { method: 'GET', path: `federation/tools?project=${encodeURIComponent(req.project)}` },
      ctx,
      { idempotent: true },
    );
    if (answer.status !== 200) {
      const error = answer.body.error as { code?: unknown; message?: unknown } | undefined;
      throw new GatewayError(
        answer.status === 401 ? 'FEDERATION.PEER_REJECTED' : 'FEDERATION.PEER_ERROR',
        `peer ${peer.id} refused its catalogue (HTTP ${answer.status}${typeof error?.code === 'string' ? ` ${error.code.slice(0, 64)}: ${String(error.message).slice(0, 300)}` : ''})`,
        { peer: peer.id, http_status: answer.status },
      );
    }
    const parsed = catalogueSchema.safeParse(answer.body);
    if (!parsed.success || parsed.data.gateway !== peer.id)
      throw new GatewayError(
        'FEDERATION.PEER_ERROR',
        `peer ${peer.id} answered a catalogue this gateway cannot read${parsed.success ? ` (it names itself ${parsed.data.gateway})` : ''}`,
        { peer: peer.id },
      );
    return parsed.data;
  }

  @MessagePattern(FEDERATION_PEERS_SUBJECT)
  status(): PeersReport {
    return this.health.report();
  }
}
