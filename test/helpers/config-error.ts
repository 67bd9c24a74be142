import { expect } from 'vitest';
import { ConfigError, parseConfig } from '../../src/agent/config.js';

/** The ConfigError thrown by parseConfig(argv, env); fails the test when it does not throw one. */
export function configError(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('WS_CLOSE_AGENT_INVALID_CONFIG');
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}
