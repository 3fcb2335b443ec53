// One PKCS#11 module is one library in the process, whichever thread loads it: C_Initialize and
// C_Finalize act on all its users at once. This registry, on the main thread, counts the master
// keys using each module, numbers its initializations, and counts the calls running in it, so
// that a module is re-initialized only when no call is running (C_Finalize during another
// thread's call is undefined behaviour, PKCS#11 2.40 §5.4) and finalized only by its last user.
// Internal.

/** The process-wide state of one PKCS#11 module (by library path). */
export interface ModuleState {
  /** Master keys using the module. */
  users: number;
  /** Bumped by every re-initialization: session handles from an older generation mean nothing. */
  generation: number;
  /** Calls running in the module, from every master key. */
  running: number;
}

let modules: Map<string, ModuleState> | undefined;

/** The module's state, created on first use. */
export function moduleState(library: string): ModuleState {
  modules ??= new Map();
  let state = modules.get(library);
  if (state === undefined) modules.set(library, (state = { users: 0, generation: 0, running: 0 }));
  return state;
}

/** One user fewer; `true` when it was the last (the caller finalizes the module). */
export function releaseModule(library: string): boolean {
  const state = moduleState(library);
  state.users = Math.max(0, state.users - 1);
  if (state.users > 0) return false;
  modules?.delete(library);
  return true;
}
