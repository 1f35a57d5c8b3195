/// The script and harness page of the dashboard's browser check (see
/// `DashboardTests`).
enum LayoutCheck {
    struct Chart: Decodable {
        let label: String
        let marks: Int
    }

    struct Result: Decodable {
        let viewport: [Int]
        let problems: [String]
        let charts: [Chart]
        let textBoxes: Int
    }

    /// A page holding the dashboard copy in an iframe of `width`×`height`,
    /// writing what the copy posts into `<pre id="result">`.
    static func harness(width: Int, height: Int) -> String {
        """
        <!DOCTYPE html><html><body style="margin:0">
        <iframe src="checked.html" width="\(width)" height="\(height)"
                style="border:0;display:block"></iframe>
        <script>
        window.addEventListener('message', event => {
          const pre = document.createElement('pre');
          pre.id = 'result';
          pre.textContent = event.data;
          document.body.appendChild(pre);
        });
        </script>
        </body></html>
        """
    }

    /// Runs in the dashboard copy once it has loaded.
    static let script = """
        <script>
        window.addEventListener('load', () => {
          const problems = [];
          const root = document.documentElement;
          const vw = root.clientWidth;
          if (root.scrollWidth > vw + 1) {
            problems.push(`page scrolls sideways: ${root.scrollWidth} > ${vw}`);
          }
          // Every visible text box.
          const boxes = [];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const node = walker.currentNode;
            const parent = node.parentElement;
            if (!node.textContent.trim() || parent.closest('title, style, script')) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            for (const r of range.getClientRects()) {
              if (r.width < 0.5 || r.height < 0.5) continue;
              boxes.push({ text: node.textContent.trim().slice(0, 40), r, parent });
            }
          }
          const slack = 0.5;
          const overlaps = (a, b) => a.left < b.right - slack && b.left < a.right - slack &&
            a.top < b.bottom - slack && b.top < a.bottom - slack;
          const inside = (a, b) => a.left >= b.left - slack && a.right <= b.right + slack &&
            a.top >= b.top - slack && a.bottom <= b.bottom + slack;
          for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
              if (overlaps(boxes[i].r, boxes[j].r)) {
                problems.push(`overlap: "${boxes[i].text}" and "${boxes[j].text}"`);
              }
            }
          }
          // Clipping: inside the viewport's width, the chart's SVG, the card.
          for (const box of boxes) {
            if (box.r.left < -slack || box.r.right > vw + slack) {
              problems.push(`outside the viewport: "${box.text}"`);
            }
            const svg = box.parent.closest('svg');
            if (svg && !inside(box.r, svg.getBoundingClientRect())) {
              problems.push(`clipped by its chart: "${box.text}"`);
            }
            const card = box.parent.closest('.card, .chart-card, header, section');
            if (card && !inside(box.r, card.getBoundingClientRect())) {
              problems.push(`outside its card: "${box.text}"`);
            }
          }
          // Charts and their drawn marks.
          const charts = [...document.querySelectorAll('svg.chart')].map(svg => ({
            label: svg.getAttribute('aria-label'),
            marks: [...svg.querySelectorAll('.mark')].filter(m => {
              const b = m.getBoundingClientRect();
              return b.width > 0 || b.height > 0;
            }).length,
          }));
          parent.postMessage(JSON.stringify({
            viewport: [vw, window.innerHeight], problems, charts, textBoxes: boxes.length,
          }), '*');
        });
        </script>
        """
}
