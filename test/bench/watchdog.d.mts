// Types of watchdog.mjs, for the tests that use it.
export interface WatchResult {
  outcome: 'done' | 'frozen' | 'stalled' | 'timeout' | 'failed';
  count: number;
  maxGapMs: number;
  seconds: number;
  detail: string;
  lines: string[];
}
export interface WatchOptions {
  flags?: string[];
  stallMs?: number;
  busyStallMs?: number;
  frozenCpuMs?: number;
  maxMs?: number;
  onBeat?: (count: number) => void;
  env?: NodeJS.ProcessEnv;
}
export function cpuMs(pid: number): number | undefined;
export function describeStall(pid: number): string;
export function watchChild(script: string, args: string[], options?: WatchOptions): Promise<WatchResult>;
