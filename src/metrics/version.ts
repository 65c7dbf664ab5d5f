/** The version reported by sysmail_build_info (kept in step with package.json by test/metrics.test.ts). */
export const SYSMAIL_VERSION = '0.1.0';
