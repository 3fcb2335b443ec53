/** What the demo records about its seed in `demo.json` (public: it names no one, holds no key). */
export interface DemoConfig {
  seed: number;
  members: number;
  /** Checkups cover the five years before this one. */
  seedYear: number;
  /** The last day of the seeded step counts. */
  stepsUntil: string;
  seededAt: string;
}

/** The file, in the data folder, that marks a seeded demo. */
export const DEMO_CONFIG_FILE = 'demo.json';
