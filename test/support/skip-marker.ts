/**
 * Marker in the name of a conformance suite skipped for a missing tool; the conformance reporter lists
 * these at the end of the run. A module of its own: the reporter runs outside the test workers and must
 * not load vitest's runtime.
 */
export const SKIP_MARKER = ' [skipped: ';
