/**
 * The workspace API over HTTP: `requestAPI` (one helper for every call, under
 * the same `imad/api` namespace as the server's route table), the error it
 * throws (`WorkspaceAPIError`) and `HttpWorkspaceClient`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IAppState,
  ICommitResult,
  IErrorBody,
  IPublishResult,
  IWorkspaceClient,
  IWorkspaceState,
  NAMESPACE
} from './tokens';

/**
 * A failed call to the workspace API, with a message for the student.
 *
 * `status` is the HTTP status, 0 when the server could not be reached;
 * `reason` is the server's short error code (e.g. `push_rejected`).
 */
export class WorkspaceAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string
  ) {
    super(message);
    this.name = 'WorkspaceAPIError';
  }

  /** True when the server did not answer at all. */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

/** Message shown when the workspace server does not answer. */
export const UNREACHABLE_MESSAGE =
  'Cannot reach your workspace server. Check your connection, or restart your server from File > Hub Control Panel.';

/**
 * The message a student should read for an error answer: the server's own
 * message when it sent one, otherwise a sentence for the status code (never a
 * raw traceback or HTML page).
 */
export function messageForStatus(status: number, body: unknown): string {
  if (isErrorBody(body) && body.message.trim()) {
    return body.message.trim();
  }
  switch (status) {
    case 401:
    case 403:
      return 'Your session has expired or you may not do this. Reload the page and log in again.';
    case 404:
      return 'The IMAD workspace service is not available in this server. Restart your server from the Hub control panel.';
    case 409:
      return 'Your repository changed elsewhere and the push was rejected.';
    case 413:
      return 'A file is too large to commit. Remove it or make it smaller, then try again.';
    case 502:
      return 'The classroom service or the repository host failed. Try again in a minute.';
    case 503:
      return 'Your workspace is still being prepared. Try again in a few seconds.';
    default:
      return status >= 500
        ? `Your workspace server failed (HTTP ${status}). Try again; if it persists, tell your TA.`
        : `The request was refused (HTTP ${status}).`;
  }
}

function isErrorBody(body: unknown): body is IErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as IErrorBody).message === 'string'
  );
}

/**
 * Call the workspace API at `endPoint` (relative to `<base_url>imad/api/`)
 * and return its JSON answer.
 *
 * Throws `WorkspaceAPIError` for a network failure or any non-2xx answer.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new WorkspaceAPIError(UNREACHABLE_MESSAGE, 0, 'unreachable');
  }
  const text = await response.text();
  let body: unknown = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const reason =
      isErrorBody(body) && body.error ? body.error : `http_${response.status}`;
    throw new WorkspaceAPIError(
      messageForStatus(response.status, body),
      response.status,
      reason
    );
  }
  if (body === null) {
    throw new WorkspaceAPIError(
      'Your workspace server sent an answer the panel cannot read. Reload the page.',
      response.status,
      'bad_answer'
    );
  }
  return body as T;
}

function jsonPost(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** The workspace API of the server this JupyterLab runs in. */
export class HttpWorkspaceClient implements IWorkspaceClient {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  getWorkspace(): Promise<IWorkspaceState> {
    return requestAPI<IWorkspaceState>('workspace', {}, this.settings);
  }

  commit(message: string): Promise<ICommitResult> {
    return requestAPI<ICommitResult>(
      'commit',
      jsonPost({ message }),
      this.settings
    );
  }

  publish(message?: string): Promise<IPublishResult> {
    const body = message === undefined ? {} : { message };
    return requestAPI<IPublishResult>('publish', jsonPost(body), this.settings);
  }

  getApp(): Promise<IAppState> {
    return requestAPI<IAppState>('app', {}, this.settings);
  }

  unpublish(): Promise<IAppState> {
    return requestAPI<IAppState>('app', { method: 'DELETE' }, this.settings);
  }
}
