/** See build.js. */
export function bundle(outfile?: string, entry?: string): Promise<string>;
