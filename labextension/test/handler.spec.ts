import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import {
  HttpWorkspaceClient,
  WorkspaceAPIError,
  requestAPI
} from '../src/handler';

interface ICall {
  url: string;
  method: string;
  body: string | null;
}

/** Server settings whose fetch answers `respond` and records each call. */
function fakeServer(respond: (call: ICall) => Response | Promise<Response>): {
  settings: ServerConnection.ISettings;
  calls: ICall[];
} {
  const calls: ICall[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request =
      input instanceof Request ? input : new Request(String(input), init);
    const call = {
      url: request.url,
      method: request.method,
      body: request.method === 'GET' ? null : await request.text()
    };
    calls.push(call);
    return respond(call);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:9999/user/alice/',
    wsUrl: 'ws://127.0.0.1:9999/user/alice/',
    token: 'secret',
    fetch: fetchImpl as typeof fetch,
    Request,
    Headers
  });
  return { settings, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });

describe('requestAPI', () => {
  it('calls <base_url>imad/api/<endpoint> and returns the JSON', async () => {
    const { settings, calls } = fakeServer(() => json(200, { status: 'live' }));
    const answer = await requestAPI<{ status: string }>('app', {}, settings);
    expect(answer).toEqual({ status: 'live' });
    expect(calls[0].url.split('?')[0]).toBe(
      'http://127.0.0.1:9999/user/alice/imad/api/app'
    );
  });

  it("throws the server's own message for an error answer", async () => {
    const { settings } = fakeServer(() =>
      json(409, {
        error: 'push_rejected',
        message:
          'Your repository has commits you do not have. Pull them first.',
        status: 409
      })
    );
    const error = await requestAPI(
      'commit',
      { method: 'POST' },
      settings
    ).catch(e => e);
    expect(error).toBeInstanceOf(WorkspaceAPIError);
    expect(error.status).toBe(409);
    expect(error.reason).toBe('push_rejected');
    expect(error.message).toBe(
      'Your repository has commits you do not have. Pull them first.'
    );
  });

  it('never shows a raw traceback or HTML page', async () => {
    const { settings } = fakeServer(
      () =>
        new Response('<html>Traceback (most recent call last): ...</html>', {
          status: 500
        })
    );
    const error = await requestAPI(
      'publish',
      { method: 'POST' },
      settings
    ).catch(e => e);
    expect(error.status).toBe(500);
    expect(error.message).not.toMatch(/Traceback|<html>/);
    expect(error.message).toMatch(/HTTP 500/);
  });

  it('says the server is unreachable when fetch fails', async () => {
    const { settings } = fakeServer(() => {
      throw new TypeError('Failed to fetch');
    });
    const error = await requestAPI('workspace', {}, settings).catch(e => e);
    expect(error).toBeInstanceOf(WorkspaceAPIError);
    expect(error.unreachable).toBe(true);
    expect(error.message).toMatch(/Cannot reach your workspace server/);
  });

  it.each([
    [503, /still being prepared/],
    [502, /classroom service/],
    [413, /too large/],
    [403, /log in again/]
  ])('explains HTTP %i without a body', async (status, expected) => {
    const { settings } = fakeServer(() => new Response('', { status }));
    const error = await requestAPI('workspace', {}, settings).catch(e => e);
    expect(error.message).toMatch(expected);
  });
});

describe('HttpWorkspaceClient', () => {
  it('sends each call to its route with its verb and body', async () => {
    const { settings, calls } = fakeServer(() => json(200, { ok: true }));
    const client = new HttpWorkspaceClient(settings);
    await client.getWorkspace();
    await client.commit('Update index');
    await client.publish('Ship it');
    await client.publish();
    await client.getApp();
    await client.unpublish();
    expect(
      calls.map(c => [
        c.method,
        c.url.split('/imad/api/')[1].split('?')[0],
        c.body
      ])
    ).toEqual([
      ['GET', 'workspace', null],
      ['POST', 'commit', '{"message":"Update index"}'],
      ['POST', 'publish', '{"message":"Ship it"}'],
      ['POST', 'publish', '{}'],
      ['GET', 'app', null],
      ['DELETE', 'app', '']
    ]);
  });
});
