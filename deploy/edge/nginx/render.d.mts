/** Types of render.mjs (plain JavaScript, shared with the bench). */
export declare const NGINX_EDGE_CONF: string;
export declare function renderNginxEdgeConf(values: Record<string, string>): string;
