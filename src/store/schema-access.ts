// Identity and roles. A principal (user or service account) owns tokens and holds role bindings; a binding is
// never updated except to mark it revoked, so the table is also the history of who was granted what, when.

/** A user or service account. Names are unique for ever: a principal is disabled, never deleted. */
export interface PrincipalTable {
  id: string;
  name: string;
  /** `user` or `service`. */
  kind: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  disabled_by: string | null;
}

/** One role granted to a principal, optionally scoped to stage and repository patterns. */
export interface RoleBindingTable {
  id: string;
  principal_id: string;
  /** viewer, builder, approver, releaser or admin. */
  role: string;
  /** JSON array of stage patterns, or null for every stage. */
  stages: string | null;
  /** JSON array of repository patterns, or null for every repository. */
  repos: string | null;
  granted_at: string;
  granted_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** Which principal a token belongs to (one row per token, written with the token). */
export interface TokenPrincipalTable {
  token_id: string;
  principal_id: string;
}

export interface AccessTables {
  principals: PrincipalTable;
  role_bindings: RoleBindingTable;
  token_principals: TokenPrincipalTable;
}
