/**
 * A small Disposable base (as in vscode-hexeditor): subclasses `_register` what they create, and one
 * `dispose()` releases all of it, so nothing leaks when a panel or editor closes.
 */
export interface IDisposable {
  dispose(): void;
}

export abstract class Disposable implements IDisposable {
  private _isDisposed = false;
  protected readonly _disposables: IDisposable[] = [];

  protected _register<T extends IDisposable>(d: T): T {
    if (this._isDisposed) d.dispose();
    else this._disposables.push(d);
    return d;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) return;
    this._isDisposed = true;
    // Last registered first: later things may depend on earlier ones.
    while (this._disposables.length) {
      try {
        this._disposables.pop()!.dispose();
      } catch {
        // One failing dispose must not keep the rest alive.
      }
    }
  }
}
