// Text streams read line by line: restic's --json output in the wrapper, the API server's watch
// stream in the operator. Both come from outside the process, so a line has a length limit: a
// stream that never sends a newline must not grow memory without bound.

/** restic's longest JSON lines (a summary, an error with a long path) are a few KiB. */
export const DEFAULT_MAX_LINE_LENGTH = 1 << 20;

/**
 * Splits a stream of bytes or text into lines without breaking multi-byte characters across chunks
 * (`\n` or `\r\n`). A line longer than `maxLineLength` characters keeps its first `maxLineLength`
 * and the rest up to the newline is dropped; `cutLines` counts those, for callers to whom a cut
 * line is an error.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8");
  private readonly maxLineLength: number;
  private rest = "";
  /** The current line passed the limit: what follows up to the next newline is dropped. */
  private cutting = false;
  cutLines = 0;

  constructor(maxLineLength = DEFAULT_MAX_LINE_LENGTH) {
    this.maxLineLength = maxLineLength;
  }

  push(chunk: Uint8Array | string): string[] {
    const text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      this.take(text.slice(start, nl));
      out.push(stripCr(this.rest));
      this.rest = "";
      this.cutting = false;
      start = nl + 1;
    }
    this.take(text.slice(start));
    return out;
  }

  /** What is left after the stream ended: the last line when it had no newline. */
  end(): string[] {
    this.take(this.decoder.decode());
    const last = this.rest;
    this.rest = "";
    this.cutting = false;
    return last === "" ? [] : [stripCr(last)];
  }

  private take(piece: string): void {
    if (this.cutting) return;
    const room = this.maxLineLength - this.rest.length;
    if (piece.length <= room) {
      this.rest += piece;
      return;
    }
    this.rest += piece.slice(0, room);
    this.cutting = true;
    this.cutLines++;
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
