/** Text → HTML text and attribute values (the server's pages and the elements build HTML as strings). */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
