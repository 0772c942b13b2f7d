/** Caps a request body whose size is not declared up front (chunked): past the limit the stream errors. */
import { Transform, type TransformCallback } from 'node:stream';

export class BodyLimit extends Transform {
  #seen = 0;
  constructor(private readonly max: number) { super(); }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) {
      cb(Object.assign(new Error('request body over limit'), { code: 'TG_BODY_TOO_LARGE' }));
      return;
    }
    cb(null, chunk);
  }
}
