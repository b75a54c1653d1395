/**
 * Preloaded into every fork() child (node --require, before the child's module): reads what the parent sent and
 * starts the parent watch (child.ts, startForkChild).
 */
import { startForkChild } from './child';

startForkChild();
