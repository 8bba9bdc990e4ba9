/**
 * How long a store remembers that a user's sessions were revoked (`destroyForUser`): far longer than
 * any create can be in flight (every store call is bounded by its command timeout), so that a create
 * that began before the revocation and reaches the store after it is refused rather than written.
 */
export const REVOCATION_MEMORY_MS = 10 * 60 * 1000;
