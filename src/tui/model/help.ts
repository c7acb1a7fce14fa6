/** The Help screen's text (SPEC §16.5 keys), also quoted in the README. */

export const SCREEN_TITLES = ["Dashboard", "Routes", "Apps", "Circuits", "Errors", "Config", "Help"] as const;

export const HELP_LINES: readonly string[] = [
  "Keys everywhere",
  "  1-7            switch screen (Dashboard Routes Apps Circuits Errors Config Help)",
  "  Tab/Shift-Tab  next/previous screen",
  "  j/k, ↓/↑       move the cursor or scroll",
  "  PgDn/PgUp      a page down/up",
  "  g/G            top/bottom",
  "  /              search (filters the list; Enter keeps the filter, Esc clears it)",
  "  r              refresh now",
  "  Esc            close the open view, clear the search",
  "  ?              this help",
  "  q              quit",
  "",
  "Routes",
  "  a              add a rule: one line of proxy.conf syntax, e.g. /api/* -> http://127.0.0.1:3000",
  "  e or Enter     edit the selected rule (its headers and option blocks are kept)",
  "  d              delete the selected rule (asks y/n)",
  "",
  "Apps",
  "  Enter          menu: Deploy / Restart / Stop / Rollback / View Logs",
  "  in the log viewer: f follow (keep showing the newest lines), Esc back",
  "",
  "Errors",
  "  Enter          details of the selected request",
  "  c              copy the selected log line to the clipboard (OSC 52)",
  "",
  "The status badge: Connecting, OK, Unreachable (no proxy answers; retried every second),",
  "Unauthorized (the admin API refused the credential), Disabled (no control socket, admin off).",
];
