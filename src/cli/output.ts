// The files a command writes, checked before it starts its work: a missing folder or a folder named
// as the file is refused at once, in words, not after minutes of work by the operating system's
// error about a temporary file.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Refuses `path` as the file `flag` names unless its folder exists and it is not itself a folder. */
export function checkOutputFile(flag: string, path: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a folder: name the file to write`);
  const dir = dirname(path);
  if (!existsSync(dir)) throw new Error(`${flag} ${path}: the folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new Error(`${flag} ${path}: ${dir} is not a folder`);
}
