// The runtime room's public face: the driver port, the local sandboxed driver, and the traffic router.
export { createLocalDriver } from './local-driver.ts';
export type { Backend, Router, RouterOptions, RouteTable } from './router.ts';
export { createRouter } from './router.ts';
export type {
  DriftFinding,
  DriftReport,
  HealthCheck,
  HealthSpec,
  ImageSource,
  InstanceSpec,
  InstanceState,
  InstanceStatus,
  RuntimeDriver,
} from './types.ts';
