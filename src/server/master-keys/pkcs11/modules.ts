// One PKCS#11 module is one library in the process, whichever thread loads it: C_Initialize and
// C_Finalize act on all its users at once. This registry, on the main thread, counts the master
// keys using each module, numbers its initializations, and counts the calls running in it, so
// that a module is re-initialized only when no call is running (C_Finalize during another
// thread's call is undefined behaviour, PKCS#11 2.40 §5.4), finalized only by its last user, and
// not used by a new master key while that finalization is under way. Internal.

/** The process-wide state of one PKCS#11 module (by library path). */
export interface ModuleState {
  /** Master keys using the module. */
  users: number;
  /** Bumped by every re-initialization: session handles from an older generation mean nothing. */
  generation: number;
  /** Threads with a call running in the module, from every master key. */
  running: number;
  /** The last user's C_Finalize, while it runs. */
  finalizing: Promise<void> | undefined;
}

let modules: Map<string, ModuleState> | undefined;

/** The module's state, created on first use. */
export function moduleState(library: string): ModuleState {
  modules ??= new Map();
  let state = modules.get(library);
  if (state === undefined) modules.set(library, (state = { users: 0, generation: 0, running: 0, finalizing: undefined }));
  return state;
}

/**
 * One user fewer. The last one runs `finalize` (when given: not while a call still runs in the
 * module), and the module's state is forgotten once that is done, unless a new user came.
 */
export async function releaseModule(library: string, finalize: (() => Promise<void>) | undefined): Promise<void> {
  const state = moduleState(library);
  state.users = Math.max(0, state.users - 1);
  if (state.users > 0) return;
  if (finalize !== undefined) {
    state.finalizing = finalize().finally(() => {
      state.finalizing = undefined;
      state.generation++; // every handle from before is void
    });
    await state.finalizing;
  }
  if (state.users === 0) modules?.delete(library);
}
