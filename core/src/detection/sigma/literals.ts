/**
 * Aho-Corasick over the lower-cased text of one field: one pass per record finds every
 * `contains` literal of every rule at once, instead of one `includes` scan per literal.
 * ASCII transitions are a dense table; literals with other characters fall back to `includes`.
 */
export class LiteralAutomaton {
  private readonly lits: string[] = [];
  private readonly ids: number[] = [];
  private delta: Int32Array = new Int32Array(0);
  /** Per state: 0 = no literal ends here, else 1 + index into outIds of a -1-terminated run. */
  private outHead: Int32Array = new Int32Array(0);
  private outIds: Int32Array = new Int32Array(0);
  private slow: { lit: string; id: number }[] = [];
  private built = false;

  add(lit: string, id: number): void {
    if (this.built) throw new Error('literal added after the automaton was built');
    if (/^[\x00-\x7f]+$/.test(lit)) {
      this.lits.push(lit);
      this.ids.push(id);
    } else this.slow.push({ lit, id });
  }

  build(): void {
    this.built = true;
    const goto: number[][] = [[]];
    const out: number[][] = [[]];
    for (let i = 0; i < this.lits.length; i++) {
      let s = 0;
      for (const ch of this.lits[i]!) {
        const c = ch.charCodeAt(0);
        let n = goto[s]![c];
        if (n === undefined) {
          n = goto.length;
          goto.push([]);
          out.push([]);
          goto[s]![c] = n;
        }
        s = n;
      }
      out[s]!.push(this.ids[i]!);
    }
    const states = goto.length;
    const delta = new Int32Array(states * 128);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let c = 0; c < 128; c++) {
      const n = goto[0]![c];
      if (n !== undefined) {
        delta[c] = n;
        fail[n] = 0;
        queue.push(n);
      }
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      out[s]!.push(...out[fail[s]!]!);
      for (let c = 0; c < 128; c++) {
        const n = goto[s]![c];
        if (n !== undefined) {
          fail[n] = delta[fail[s]! * 128 + c]!;
          delta[s * 128 + c] = n;
          queue.push(n);
        } else delta[s * 128 + c] = delta[fail[s]! * 128 + c]!;
      }
    }
    const outHead = new Int32Array(states);
    const ids: number[] = [];
    for (let s = 0; s < states; s++) {
      if (out[s]!.length === 0) continue;
      outHead[s] = ids.length + 1;
      ids.push(...out[s]!, -1);
    }
    this.delta = delta;
    this.outHead = outHead;
    this.outIds = Int32Array.from(ids);
  }

  /** Mark `found[id] = gen` for every literal occurring in `text`, and list each once in `list`. */
  scan(text: string, found: Int32Array, gen: number, list: number[]): void {
    const delta = this.delta;
    const outHead = this.outHead;
    const outIds = this.outIds;
    const n = text.length;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      s = c < 128 ? delta[(s << 7) | c]! : 0;
      const h = outHead[s]!;
      if (h !== 0) {
        for (let k = h - 1; outIds[k]! !== -1; k++) {
          const id = outIds[k]!;
          if (found[id] !== gen) {
            found[id] = gen;
            list.push(id);
          }
        }
      }
    }
    for (const { lit, id } of this.slow) {
      if (found[id] !== gen && text.includes(lit)) {
        found[id] = gen;
        list.push(id);
      }
    }
  }
}
