import type { Failure } from './types.js';

export const DEFAULT_MAX_WORK = 100;

/**
 * Name-constraint comparisons (names × subtrees) allowed per verifyChain call: Chromium's bound
 * (2^20). A 1,000-name leaf under a 1,000-subtree CA fits; anything larger is refused unchecked.
 */
export const MAX_NAME_CONSTRAINT_CHECKS = 1 << 20;

/**
 * Bounds the work of one verifyChain call. One unit is one candidate issuer considered while
 * building a path (which costs at most one signature check) or one CRL signature check. Hostile
 * input (many certificates sharing a subject name, cross-signed loops) can otherwise make path
 * building exponential.
 */
export class WorkBudget {
  spent = 0;
  exhausted = false;

  constructor(readonly limit: number) {}

  /** Takes `units` (default one); false (and `exhausted`, nothing taken) if that would exceed the limit. */
  spend(units = 1): boolean {
    if (this.spent + units > this.limit) {
      this.exhausted = true;
      return false;
    }
    this.spent += units;
    return true;
  }
}

/**
 * Keeps the most relevant of the failures seen while trying alternative paths: a complete path
 * that failed validation beats any dead end; among dead ends, the one that got furthest from the
 * leaf wins, then bad_signature over path_length_exceeded over untrusted. Ties keep the first,
 * which came from the preferred candidate.
 */
export class FailureTracker {
  private best: { failure: Failure; rank: number } | undefined;

  completePath(failure: Failure): void {
    this.offer(failure, Number.MAX_SAFE_INTEGER);
  }

  deadEnd(failure: Failure, depth: number): void {
    const weight = failure.code === 'bad_signature' ? 3 : failure.code === 'path_length_exceeded' ? 2 : 1;
    this.offer(failure, depth * 4 + weight);
  }

  get failure(): Failure | undefined {
    return this.best?.failure;
  }

  private offer(failure: Failure, rank: number): void {
    if (!this.best || rank > this.best.rank) this.best = { failure, rank };
  }
}
