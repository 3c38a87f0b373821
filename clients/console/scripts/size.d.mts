export declare const BUDGET_BYTES: number;
export declare function bundleSizes(dist?: string): {
  files: { file: string; bytes: number; gzip: number }[];
  gzip: number;
  bytes: number;
};
