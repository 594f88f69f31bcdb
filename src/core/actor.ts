/**
 * The principal in a recorded actor: events record `<principal>#<token id prefix>` (`alice#1a2b3c4d`), so
 * two tokens of one person are one person. Principal names never contain `#`; an actor without one is
 * already a principal name.
 */
export function actorPrincipal(actor: string): string {
  const hash = actor.indexOf('#');
  return hash === -1 ? actor : actor.slice(0, hash);
}
