/** The IMAD panel's icon (a rocket over a bracket: "publish your code"). */
import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2c3 2 4.5 5.2 4.5 8.8V14l1.8 2.4-.9 2.1-2.9-1.1H9.5l-2.9 1.1-.9-2.1L7.5 14v-3.2C7.5 7.2 9 4 12 2zm0 5.3a1.7 1.7 0 1 0 0 3.4 1.7 1.7 0 0 0 0-3.4z"/>
    <path d="M10.3 19h3.4L12 22z"/>
  </g>
</svg>`;

export const imadIcon = new LabIcon({
  name: 'imad-classroom:imad',
  svgstr: svg
});
