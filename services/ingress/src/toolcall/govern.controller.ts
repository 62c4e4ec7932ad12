import { INGRESS_GOVERN_SUBJECT, type RequestOf } from '@sg/contracts';
import { BusController, Ctx, MessagePattern, Payload, type BusContext } from '@sg/messaging';
import { ToolCallService } from './toolcall.service.js';

/**
 * gw.ingress.govern.v1: a peer gateway's call, verified by the federation service (signature,
 * nonce, peer's allowances, loops), run on the same governed path as a local call, as agent
 * `<peer>/<agent>` with channel `federation`. The answer is the HTTP answer the peer gets.
 */
@BusController()
export class GovernController {
  constructor(private readonly toolCalls: ToolCallService) {}

  @MessagePattern(INGRESS_GOVERN_SUBJECT)
  govern(@Payload() req: RequestOf<typeof INGRESS_GOVERN_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.toolCalls.govern('federation', ctx, async () => ({
      principal: { agentId: req.agent_id, project: req.project },
      call: {
        agentId: req.agent_id,
        agentVersion: null,
        requestId: req.request_id,
        clientRequestId: true,
        sessionId: req.session_id,
        userId: req.user_id,
        tool: req.tool,
        arguments: req.arguments,
        via: req.via,
        hops: req.hops,
      },
    }));
  }
}
