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

interface NodeLike {
  key: string;
  type: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, Array<{ target?: Array<{ key: string }>; guard?: unknown }>>;
  always?: Array<{ target?: Array<{ key: string }>; guard?: unknown }>;
}

/** The machine's states and transitions as JSON, for clients that draw it. */
export function machineGraph(machine: AnyStateMachine, current: string): MachineGraph {
  const root = machine.root as unknown as NodeLike;
  const states: MachineGraph['states'] = [];
  for (const node of Object.values(root.states)) {
    const transitions: MachineGraph['states'][number]['transitions'] = [];
    for (const [event, defs] of node.transitions) {
      for (const d of defs) {
        const target = d.target?.[0]?.key;
        if (target) transitions.push({ event: friendlyEvent(event), target, ...(d.guard ? { guarded: true } : {}) });
      }
    }
    for (const d of node.always ?? []) {
      const target = d.target?.[0]?.key;
      if (target) transitions.push({ event: 'ALWAYS', target, ...(d.guard ? { guarded: true } : {}) });
    }
    states.push({ name: node.key, ...(node.type === 'final' ? { final: true } : {}), transitions });
  }
  return { id: machine.id, initial: String((machine.config as { initial?: string }).initial), current, states };
}
