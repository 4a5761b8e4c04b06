import { FabricError } from '../errors/fabric-error.js';

/** Another instance took the slot and fenced this one's producer: the transaction was aborted. */
export class SlotFencedError extends FabricError {
  declare readonly code: 'SLOT_FENCED';
  constructor(message: string) {
    super('SLOT_FENCED', message);
  }
}

/** A write for a collector this instance does not (or no longer) runs. */
export class SlotNotOwnedError extends FabricError {
  declare readonly code: 'SLOT_NOT_OWNED';
  constructor(message: string) {
    super('SLOT_NOT_OWNED', message);
  }
}

/** The Kafka cluster cannot hold the cluster's state as configured. */
export class ClusterSetupError extends FabricError {
  declare readonly code: 'CLUSTER_SETUP';
  constructor(message: string) {
    super('CLUSTER_SETUP', message);
  }
}
