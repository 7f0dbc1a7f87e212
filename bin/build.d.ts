/** See build.js. */
export function bundle(outfile?: string): Promise<string>;
