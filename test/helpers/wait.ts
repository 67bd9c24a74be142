export { pollUntil, waitFor } from '../../harness/wait.mjs';
