import { describe, expect, it } from 'vitest';
import type { FabricEvent } from '../../src/plugin-api/index.js';
import { MAX_PENDING_BATCHES, Redelivery } from '../../src/correlation/redelivery.js';
import { T0, failed } from './helpers.js';

const alert = (id: string) => ({ event: { id, kind: 'alert' }, fabric: {} }) as unknown as FabricEvent;
const ids = (list: Array<{ alert: FabricEvent }>) => list.map((u) => u.alert.event.id);

/** One batch through the ledger, as the engine drives it. */
function batch(r: Redelivery, alerts: FabricEvent[], triggers: string[]): void {
  const pending = r.begin();
  r.fired(pending, alerts, triggers);
  r.end();
}

describe('redelivery', () => {
  it("keeps a batch's alerts until that batch is acknowledged, oldest first; only those a detection fired can come back", () => {
    const r = new Redelivery();
    batch(r, [alert('a1'), alert('a2')], ['d1', '']);
    batch(r, [alert('b1')], ['d2']);
    expect(ids(r.unacknowledged())).toEqual(['a1', 'b1']);
    expect(r.acknowledge()).toBe(true);
    expect(ids(r.unacknowledged())).toEqual(['b1']);
    expect(r.acknowledge()).toBe(true);
    // A batch with no alert changes nothing a checkpoint holds.
    batch(r, [], []);
    r.takeChanged();
    expect(r.acknowledge()).toBe(false);
    expect(r.takeChanged()).toBe(false);
  });

  it('after a restart re-sends each owed alert once, when the detection that fired it comes back, and links the detection to it', () => {
    const r = new Redelivery();
    r.restore([
      { trigger: 'd1', alert: alert('a1') },
      { trigger: 'd1', alert: alert('a2') },
      { trigger: '', alert: alert('ignored') },
    ]);
    expect(r.owing).toBe(true);
    r.begin();
    const d1 = failed(T0, '10.0.0.1', { id: 'd1' });
    expect(r.resend(failed(T0, '10.0.0.1', { id: 'other' }))).toBeUndefined();
    expect(r.resend(d1)?.map((a) => a.event.id)).toEqual(['a1', 'a2']);
    expect((d1.fabric as { correlation?: { ids: string[] } }).correlation?.ids).toEqual(['a1', 'a2']);
    expect(r.resent('a2')?.event.id).toBe('a2');
    expect(r.resend(d1)).toBeUndefined();
    expect(r.owing).toBe(false);
    r.end();
    expect(r.resent('a2')).toBeUndefined();
  });

  it('forgets owed alerts after MAX_PENDING_BATCHES batches, and keeps at most that many unacknowledged batches', () => {
    const r = new Redelivery();
    r.restore([{ trigger: 'gone', alert: alert('old') }]);
    for (let i = 0; i < MAX_PENDING_BATCHES; i++) batch(r, [alert(`a${i}`)], [`d${i}`]);
    expect(r.owing).toBe(true);
    batch(r, [alert('last')], ['dl']);
    expect(r.owing).toBe(false);
    const left = ids(r.unacknowledged());
    expect(left).toHaveLength(MAX_PENDING_BATCHES);
    expect(left[0]).toBe('a1');
    expect(left.at(-1)).toBe('last');
  });

  it('says whether the list a checkpoint holds changed, once; markChanged() brings it back for a delta that was not written', () => {
    const r = new Redelivery();
    expect(r.takeChanged()).toBe(false);
    batch(r, [alert('a1')], ['d1']);
    expect(r.takeChanged()).toBe(true);
    expect(r.takeChanged()).toBe(false);
    r.markChanged();
    expect(r.takeChanged()).toBe(true);
  });
});
