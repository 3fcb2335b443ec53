// The member-key store contract on the in-memory store.
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { memberKeyStoreContract } from './member-key-store.contract.ts';

memberKeyStoreContract('memoryKeyStore', async () => memoryKeyStore());
