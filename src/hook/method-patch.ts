/**
 * Wrapping a method once on the prototype that defines it, shared by every
 * hook whose connections use that class, and putting the original back when
 * the last hook uninstalls. Per-instance wrappers would cost a hidden-class
 * change on every connection (and removing them again pushes each socket
 * into dictionary mode).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any method signature can be wrapped
type AnyMethod = (this: any, ...args: any[]) => unknown;
export type WrappedName = 'close' | 'terminate' | 'emitClose';

/**
 * The close()/terminate()/emitClose() wrappers of one prototype (the one
 * that defines the method: ws's WebSocket.prototype, or a subclass's that
 * overrides it), shared by every hook whose connections use it. The last
 * hook to uninstall puts the original back, unless someone wrapped it after
 * us (then ours stays, inert, and is reused by the next hook instead of
 * being stacked).
 */
export class MethodPatch<F extends AnyMethod> {
  /** Installed hooks using the wrapper (a count: the patch must not keep a forgotten hook alive). */
  users = 0;
  private readonly descriptor: PropertyDescriptor;
  private readonly wrapper: F;

  constructor(
    private readonly owner: object,
    private readonly name: WrappedName,
    wrap: (original: F) => F,
  ) {
    this.descriptor = Object.getOwnPropertyDescriptor(owner, name) as PropertyDescriptor;
    this.wrapper = wrap(this.descriptor.value as F);
    Object.defineProperty(owner, name, { ...this.descriptor, value: this.wrapper });
  }

  /** One user no longer needs the wrapper; true when that put the original back. */
  release(): boolean {
    if (--this.users > 0) return false;
    if (Object.getOwnPropertyDescriptor(this.owner, this.name)?.value !== this.wrapper) return false;
    Object.defineProperty(this.owner, this.name, this.descriptor);
    return true;
  }
}

/** The object in `ws`'s prototype chain that defines `name` as a method; undefined if none (or an own property of `ws`). */
export function methodOwner(ws: object, name: WrappedName): object | undefined {
  for (let o: object | null = Object.getPrototypeOf(ws) as object | null; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return typeof d.value === 'function' && d.configurable === true ? o : undefined;
  }
  return undefined;
}

/**
 * Wrap `name` where `ws`'s class defines it (once per process), unless the
 * patch is in `used` already; returns the function that releases it.
 */
export function patchMethod<F extends AnyMethod>(
  ws: object,
  name: WrappedName,
  patches: WeakMap<object, MethodPatch<F>>,
  wrap: (original: F) => F,
  used: Set<object>,
): (() => void) | undefined {
  const owner = methodOwner(ws, name);
  if (owner === undefined) return undefined;
  let patch = patches.get(owner);
  if (patch === undefined) {
    patch = new MethodPatch<F>(owner, name, wrap);
    patches.set(owner, patch);
  }
  if (used.has(patch)) return undefined;
  used.add(patch);
  patch.users++;
  const p = patch;
  return () => {
    if (p.release()) patches.delete(owner);
  };
}
