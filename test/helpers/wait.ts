export { waitFor } from '../../harness/wait.mjs';
