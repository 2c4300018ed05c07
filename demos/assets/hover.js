() => {
  // The Gradio app's page script (demos/app.py passes it to launch(js=...); it runs once on page load).
  // t-SNE: show the hovered point's thumbnail (customdata[4], a data URI) next to the cursor.
  const tip = document.createElement('img');
  tip.id = 'cvzoo-thumb';
  tip.style.cssText = 'position:fixed;z-index:10000;width:96px;height:96px;image-rendering:pixelated;' +
    'border:2px solid #333;background:#fff;pointer-events:none;display:none';
  document.body.appendChild(tip);
  const attach = () => {
    document.querySelectorAll('#tsne_plot .js-plotly-plot').forEach((gd) => {
      if (gd._cvzooHover || typeof gd.on !== 'function') return;
      gd._cvzooHover = true;
      gd.on('plotly_hover', (ev) => {
        const p = ev.points && ev.points[0];
        const uri = p && p.customdata && p.customdata[4];
        if (!uri) return;
        tip.src = uri;
        const e = ev.event || {};
        tip.style.left = ((e.clientX || 0) + 16) + 'px';
        tip.style.top = ((e.clientY || 0) + 16) + 'px';
        tip.style.display = 'block';
        tip.dataset.index = p.customdata[0];
      });
      gd.on('plotly_unhover', () => { tip.style.display = 'none'; });
    });
  };
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
  attach();
}
