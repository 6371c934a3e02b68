/**
 * Progress on stderr, so stdout stays the table alone. A redrawn bar on a terminal; elsewhere
 * (CI logs, files) a plain line at each 10% so the log is not flooded with carriage returns.
 */
export class Progress {
  private done = 0;
  private failed = 0;
  private lastTenth = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = !!out.isTTY;
  }

  tick(ok: boolean): void {
    this.done++;
    if (!ok) this.failed++;
    if (this.tty) return this.draw();
    const tenth = Math.floor((10 * this.done) / this.total);
    if (tenth > this.lastTenth || this.done === this.total) {
      this.lastTenth = tenth;
      this.out.write(`compare: ${this.done}/${this.total} done, ${this.failed} failed\n`);
    }
  }

  end(note?: string): void {
    if (this.tty) this.out.write('\n');
    if (note) this.out.write(`compare: ${note}\n`);
  }

  private draw(): void {
    const width = 30;
    const filled = Math.round((width * this.done) / this.total);
    this.out.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${this.done}/${this.total} (${this.failed} failed)`);
  }
}
