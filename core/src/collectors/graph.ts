import type { AnyStateMachine } from 'xstate';
import type { MachineGraph } from '../host.js';

/** Friendly names for xstate's internal events, so a drawn statechart reads like the docs. */
export function friendlyEvent(type: string): string {
  if (type.startsWith('xstate.done.actor')) return 'DONE';
  if (type.startsWith('xstate.error.actor')) return 'ERROR';
  if (type.startsWith('xstate.after.')) {
    const delay = type.slice('xstate.after.'.length).split('.')[0];
    return delay === 'backoff' ? 'BACKOFF_ELAPSED' : delay === 'stable' ? 'STABLE_RUN' : `AFTER_${delay}`;
  }
  if (type === '') return 'ALWAYS';
  if (type.startsWith('xstate.init')) return 'INIT';
  return type;
}

interface TransitionLike {
  target?: NodeLike[];
  guard?: unknown;
}

interface NodeLike {
  key: string;
  type: string;
  config: { initial?: string };
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
}

/** A compound target (`active`) is entered at its initial state: name that leaf. */
function leafOf(node: NodeLike): string {
  let n = node;
  while (n.config.initial && n.states[n.config.initial]) n = n.states[n.config.initial]!;
  return n.key;
}

/**
 * The machine's states and transitions as JSON, for clients that draw it. Compound states are
 * flattened to the leaf states operators see; a leaf lists the transitions it inherits from its
 * parents after its own (the nearer definition wins, as in the machine).
 */
export function machineGraph(machine: AnyStateMachine, current: string): MachineGraph {
  const root = machine.root as unknown as NodeLike;
  const states: MachineGraph['states'] = [];
  const visit = (node: NodeLike, inherited: NodeLike[]): void => {
    const children = Object.values(node.states);
    if (children.length > 0) {
      for (const child of children) visit(child, [node, ...inherited]);
      return;
    }
    const transitions: MachineGraph['states'][number]['transitions'] = [];
    const handled = new Set<string>();
    for (const owner of [node, ...inherited]) {
      const own = new Set<string>();
      for (const [event, defs] of owner.transitions) {
        if (handled.has(event)) continue;
        own.add(event);
        for (const d of defs) {
          const target = d.target?.[0];
          if (target) transitions.push({ event: friendlyEvent(event), target: leafOf(target), ...(d.guard ? { guarded: true } : {}) });
        }
      }
      for (const e of own) handled.add(e);
      for (const d of owner.always ?? []) {
        const target = d.target?.[0];
        if (target) transitions.push({ event: 'ALWAYS', target: leafOf(target), ...(d.guard ? { guarded: true } : {}) });
      }
    }
    states.push({ name: node.key, ...(node.type === 'final' ? { final: true } : {}), transitions });
  };
  for (const node of Object.values(root.states)) visit(node, []);
  return { id: machine.id, initial: String((machine.config as { initial?: string }).initial), current, states };
}
