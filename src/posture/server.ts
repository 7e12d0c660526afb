/** Device posture on the control plane: rules, reports (re-checked), logs. See ./index.ts for the shared part. */
export {
  DEFAULT_SCHEDULE,
  NONCE_LIFETIME_MS,
  type PostureDeps,
  PostureService,
  resultView,
  ruleView,
} from './service.js';
