/**
 * The IMAD Classroom JupyterLab plugin: wires the IMAD panel into the lab.
 *
 * At start it adds the panel to the left sidebar, points the file browser at
 * the app folder, opens the app's main file in JupyterLab's own editor (when
 * no document is open yet), refreshes the changes whenever a file is saved,
 * and registers the Commit, Publish, Open live app, Unpublish and Refresh
 * commands (in the command palette under "IMAD").
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { appPath } from './format';
import { HttpWorkspaceClient } from './handler';
import { imadIcon } from './icons';
import { INotifier, INotifyAction, WorkspaceModel } from './model';
import { IMADPanel } from './panel';
import {
  COMMAND_CATEGORY,
  CommandIDs,
  DEFAULT_MAIN_FILE,
  PLUGIN_ID
} from './tokens';

/** Report outcomes as JupyterLab notifications (errors stay until dismissed). */
const notifier: INotifier = {
  success: (message, actions) =>
    void Notification.success(message, {
      autoClose: 6000,
      actions: toActions(actions)
    }),
  info: (message, actions) =>
    void Notification.info(message, {
      autoClose: 6000,
      actions: toActions(actions)
    }),
  error: (message, actions) =>
    void Notification.error(message, {
      autoClose: false,
      actions: toActions(actions)
    })
};

function toActions(
  actions: INotifyAction[] | undefined
): Notification.IAction[] {
  return (actions ?? []).map(action => ({
    label: action.label,
    callback: action.callback
  }));
}

function openInNewTab(url: string): void {
  window.open(url, '_blank', 'noopener,noreferrer');
}

/** The app's main file: package.json's `main`, else server.js. */
async function mainFile(app: JupyterFrontEnd, appDir: string): Promise<string> {
  try {
    const model = await app.serviceManager.contents.get(
      appPath(appDir, 'package.json'),
      {
        content: true,
        type: 'file',
        format: 'text'
      }
    );
    const main = JSON.parse(String(model.content)).main;
    if (typeof main === 'string' && main.trim() && !main.includes('..')) {
      return appPath(appDir, main.trim().replace(/^\.\//, ''));
    }
  } catch {
    // No readable package.json: fall back to the course's convention.
  }
  return appPath(appDir, DEFAULT_MAIN_FILE);
}

/** True when some document (not the launcher) is open in the main area. */
function hasOpenDocument(
  app: JupyterFrontEnd,
  docManager: IDocumentManager
): boolean {
  for (const widget of app.shell.widgets('main')) {
    if (docManager.contextForWidget(widget)) {
      return true;
    }
  }
  return false;
}

async function showAppFiles(
  app: JupyterFrontEnd,
  model: WorkspaceModel,
  docManager: IDocumentManager,
  fileBrowser: IDefaultFileBrowser | null
): Promise<void> {
  const ws = model.workspace;
  if (!ws || ws.state !== 'ready') {
    return;
  }
  const dir = appPath(ws.app_dir, '').replace(/\/$/, '');
  if (fileBrowser && fileBrowser.model.path === '') {
    await fileBrowser.model.cd(`/${dir}`).catch(() => undefined);
  }
  // A /lab/tree/<path> URL opens its own file; otherwise show the main file.
  const treePath = PageConfig.getOption('treePath');
  if (!treePath && !hasOpenDocument(app, docManager)) {
    docManager.openOrReveal(await mainFile(app, ws.app_dir));
  }
}

/** The plugin whose `defaultViewers` setting picks the viewer per file type. */
const DOCMANAGER_PLUGIN = '@jupyterlab/docmanager-extension:plugin';

/**
 * The app's web pages are code the student edits: open .html files in
 * JupyterLab's editor (the HTML viewer stays under "Open With"), unless the
 * student chose a viewer for HTML in Settings > Document Manager. The
 * document manager re-applies that setting when it loads or changes, so this
 * runs after it each time.
 */
async function preferEditorForHTML(
  app: JupyterFrontEnd,
  settingRegistry: ISettingRegistry | null
): Promise<void> {
  const apply = (viewers: unknown): void => {
    if (viewers && typeof viewers === 'object' && 'html' in viewers) {
      return;
    }
    try {
      app.docRegistry.setDefaultWidgetFactory('html', 'Editor');
    } catch (error) {
      console.warn(
        'IMAD: could not make the editor the default for HTML files',
        error
      );
    }
  };
  if (!settingRegistry) {
    apply(undefined);
    return;
  }
  try {
    const settings = await settingRegistry.load(DOCMANAGER_PLUGIN);
    apply(settings.composite.defaultViewers);
    settings.changed.connect(() => apply(settings.composite.defaultViewers));
  } catch {
    apply(undefined);
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The IMAD panel: commit, publish and watch your course app.',
  autoStart: true,
  requires: [IDocumentManager, IEditorTracker],
  optional: [
    ICommandPalette,
    IDefaultFileBrowser,
    ILayoutRestorer,
    ISettingRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    _editors: IEditorTracker,
    palette: ICommandPalette | null,
    fileBrowser: IDefaultFileBrowser | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const model = new WorkspaceModel({
      client: new HttpWorkspaceClient(),
      notifier,
      openURL: openInNewTab
    });

    const confirmUnpublish = async (): Promise<void> => {
      const url = model.app?.url ?? 'your app';
      const result = await showDialog({
        title: 'Unpublish your app?',
        body: `${url} stops answering until you publish again. Your code and commits stay as they are.`,
        buttons: [
          Dialog.cancelButton({ label: 'Keep it live' }),
          Dialog.warnButton({ label: 'Unpublish' })
        ]
      });
      if (result.button.accept) {
        await model.unpublish();
      }
    };

    const panel = new IMADPanel(model, {
      openFile: path => void docManager.openOrReveal(path),
      unpublish: () => void confirmUnpublish()
    });
    panel.title.icon = imadIcon;
    panel.title.caption = 'IMAD: commit and publish your app';
    app.shell.add(panel, 'left', { rank: 50 });
    restorer?.add(panel, 'imad-classroom-panel');

    // Saving, creating, renaming or deleting a file changes the list of changes.
    app.serviceManager.contents.fileChanged.connect(() => model.filesChanged());

    const { commands } = app;
    commands.addCommand(CommandIDs.commit, {
      label: 'Commit and Push Changes',
      caption: 'Commit your changed files with the message in the IMAD panel',
      isEnabled: () => model.commitDisabledReason === null,
      execute: async () => {
        app.shell.activateById(panel.id);
        await model.commit();
      }
    });
    commands.addCommand(CommandIDs.publish, {
      label: 'Publish App',
      caption: 'Commit pending changes, push, and put your app live',
      isEnabled: () => model.publishDisabledReason === null,
      execute: async () => {
        app.shell.activateById(panel.id);
        await model.publish();
      }
    });
    commands.addCommand(CommandIDs.openLiveApp, {
      label: 'Open Live App',
      caption: 'Open your published app in a new browser tab',
      isEnabled: () => !!model.app && model.app.status !== 'unpublished',
      execute: () => {
        model.openLiveApp();
      }
    });
    commands.addCommand(CommandIDs.unpublish, {
      label: 'Unpublish App…',
      caption: 'Stop your published app (asks first)',
      isEnabled: () =>
        !!model.app && model.app.status !== 'unpublished' && !model.busy,
      execute: () => confirmUnpublish()
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh IMAD Panel',
      execute: () => model.refresh()
    });
    commands.addCommand(CommandIDs.showPanel, {
      label: 'Show IMAD Panel',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.focusMessage();
      }
    });
    model.changed.connect(() => commands.notifyCommandChanged());
    if (palette) {
      for (const command of [
        CommandIDs.commit,
        CommandIDs.publish,
        CommandIDs.openLiveApp,
        CommandIDs.unpublish,
        CommandIDs.refresh,
        CommandIDs.showPanel
      ]) {
        palette.addItem({ command, category: COMMAND_CATEGORY });
      }
    }

    void app.restored.then(async () => {
      await preferEditorForHTML(app, settingRegistry);
      app.shell.activateById(panel.id);
      await model.start();
      if (model.workspace?.state === 'ready') {
        await showAppFiles(app, model, docManager, fileBrowser);
        return;
      }
      // Still cloning: show the files once the workspace is ready.
      const whenReady = (): void => {
        if (model.workspace?.state === 'ready') {
          model.changed.disconnect(whenReady);
          void showAppFiles(app, model, docManager, fileBrowser);
        }
      };
      model.changed.connect(whenReady);
    });
  }
};

export default plugin;
