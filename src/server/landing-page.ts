/** The page at `/` until the dashboard lands: where things are and how to push. */
export const LANDING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fixity</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1d2330}
code,pre{background:#f1f3f7;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem;overflow:auto}</style></head>
<body><h1>Fixity</h1><p>Build once, deploy many, never mutate. This server speaks:</p>
<ul><li><code>/v2/</code> — OCI Distribution v1.1 registry (Basic auth: any user, the token as password; or the Docker token flow at <code>/token</code>)</li>
<li><code>/api/v1/</code> — JSON API (<code>Authorization: Bearer &lt;token&gt;</code>)</li>
<li><code>/metrics</code> — Prometheus metrics, <code>/healthz</code> — liveness</li></ul>
<pre>skopeo copy --dest-creds fixity:$(cat .fixity/admin.token) --dest-tls-verify=false \\
  oci:./layout:latest docker://localhost:7070/hello:1.0.0</pre></body></html>
`;
