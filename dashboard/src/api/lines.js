// Splits a streamed response body (a watch's NDJSON, a log) into lines as
// they arrive. Yields arrays of complete lines, one array per chunk read;
// a last line without its newline is yielded at the end of the stream.
// Leaving the loop early cancels the body.
export async function* lineBatches(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop();
      if (lines.length) yield lines;
    }
    rest += decoder.decode();
    if (rest) yield [rest];
  } finally {
    reader.cancel().catch(() => {});
  }
}
