/**
 * Every command id the extension registers; package.json's `contributes.commands` lists exactly
 * these (a unit test checks both directions). The focus command's id is also the daemon's: its
 * inlay hints carry it (protocol.ts).
 */
import { FOCUS_TARGET_COMMAND } from "./protocol";

export const COMMAND_IDS = {
    attributeContinuation: "tokenlight.attributeContinuation",
    attributeFollowing: "tokenlight.attributeFollowing",
    switchMethod: "tokenlight.switchMethod",
    switchStepFunction: "tokenlight.switchStepFunction",
    switchModel: "tokenlight.switchModel",
    switchSpans: "tokenlight.switchSpans",
    focusTarget: FOCUS_TARGET_COMMAND,
    showMatrix: "tokenlight.showMatrix",
    drillDown: "tokenlight.drillDown",
    showSpans: "tokenlight.showSpans",
    compareMethods: "tokenlight.compareMethods",
    compareSelections: "tokenlight.compareSelections",
    compareWithPrevious: "tokenlight.compareWithPrevious",
    evaluateFaithfulness: "tokenlight.evaluateFaithfulness",
    clear: "tokenlight.clear",
    restartDaemon: "tokenlight.restartDaemon",
    setRemoteToken: "tokenlight.setRemoteToken",
    showLog: "tokenlight.showLog",
    showActions: "tokenlight.showActions",
    revealResult: "tokenlight.revealResult",
} as const;

export type CommandName = keyof typeof COMMAND_IDS;
