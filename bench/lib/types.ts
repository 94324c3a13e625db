export interface Sizes {
  tenants: number;
  users: number;
  memberships: number;
  posts: number;
  events: number;
}

export interface Row {
  label: string;
  /** Our figure and the baseline's, same unit. */
  ours: number;
  baseline: number;
  unit: string;
  /** How many times better ours is (direction already applied: > 1 is better). */
  ratio: number;
  detail?: string;
}

export interface Target {
  text: string;
  met: boolean;
  note?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  baselineName: string;
  rows: Row[];
  targets: Target[];
  notes: string[];
}
