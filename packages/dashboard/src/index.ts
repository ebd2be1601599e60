export { createDashboard, type Dashboard } from './dashboard.js';
export { serveDashboard, type ServeOptions, type RunningDashboard } from './serve.js';
export { hashPassword, verifyPassword } from './auth.js';
export { usersFromEnv, type DashboardOptions, type DashboardUser, type Role } from './options.js';
