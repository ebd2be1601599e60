import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Session } from '../auth.js';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageFrame {
  title: string;
  appTitle: string;
  base: string;
  session: Session | null;
  /** Nav entry to highlight. */
  active?: string;
  notice?: string | undefined;
  error?: string | undefined;
  authEnabled: boolean;
}

const NAV: [string, string][] = [
  ['clusters', 'Clusters'],
  ['tasks?state=success', 'Successful'],
  ['tasks?state=failure', 'Failed'],
  ['dead-letters', 'Dead letters'],
  ['schedules', 'Schedules'],
  ['queued', 'Queued'],
  ['groups', 'Groups'],
  ['charts', 'Charts'],
];

/** The page around every view. No inline script or style: the CSP allows only the package's own assets. */
export function layout(frame: PageFrame, body: Html): Html {
  const { base, session } = frame;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"selfRequestsOnly":true}' />
        <title>${frame.title} · ${frame.appTitle}</title>
        <link rel="stylesheet" href="${base}/assets/app.css" />
        <link rel="stylesheet" href="${base}/assets/uPlot.min.css" />
        <script src="${base}/assets/htmx.min.js" defer></script>
        <script src="${base}/assets/uPlot.iife.min.js" defer></script>
        <script src="${base}/assets/app.js" defer></script>
      </head>
      <body data-base="${base}" hx-headers="${session ? JSON.stringify({ 'X-CSRF-Token': session.csrf }) : '{}'}">
        <header>
          <a class="brand" href="${base}/">${frame.appTitle}</a>
          ${
            session
              ? html`<nav>
                    ${NAV.map(
                      ([href, label]) =>
                        html`<a href="${base}/${href}" class="${frame.active === href ? 'active' : ''}">${label}</a>`,
                    )}
                  </nav>
                  <div class="who">
                    <span data-testid="user">${session.username}</span>
                    <span class="badge">${session.role}</span>
                    ${
                      frame.authEnabled
                        ? html`<form method="post" action="${base}/logout">
                            <input type="hidden" name="_csrf" value="${session.csrf}" /><button class="link">
                              Log out
                            </button>
                          </form>`
                        : ''
                    }
                  </div>`
              : ''
          }
        </header>
        <main>
          <h1>${frame.title}</h1>
          ${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : ''}
          ${frame.error ? html`<p class="error" role="alert">${frame.error}</p>` : ''} ${body}
        </main>
      </body>
    </html>`;
}

export function csrfField(session: Session | null) {
  return session ? html`<input type="hidden" name="_csrf" value="${session.csrf}" />` : '';
}
