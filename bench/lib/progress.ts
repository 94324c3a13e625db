/** A one-line progress bar on stderr (a plain line per step when stderr is not a terminal). */
export function progress(label: string, total: number) {
  const tty = process.stderr.isTTY;
  let last = -1;
  const started = Date.now();
  const draw = (done: number) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}% ${label}`;
    if (tty) process.stderr.write(`\r${bar}`);
    else if (pct % 25 === 0 || done === total) process.stderr.write(`${bar}\n`);
  };
  draw(0);
  return {
    tick: (done: number) => draw(done),
    done: () => {
      draw(total);
      if (tty) process.stderr.write(` (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    },
  };
}

export const say = (line: string) => process.stderr.write(`${line}\n`);
