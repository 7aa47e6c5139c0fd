//! Query lines as `armorc query` reads them (capped line reader, UTF-8, JSON, fields), answered
//! against a map image compiled from our fixtures. Oracles: no panic; an accepted query written
//! back as a line (`to_line`) parses again and gets the same answer (`to_line` writes only the
//! fields the op uses, while the parser accepts and ignores others, e.g. `capability` on `chmod`).
#![no_main]

use armorc_compiler::image::MapImage;
use armorc_compiler::model::Model;
use armorc_compiler::query::{answer_operation, error_answer, parse_line, read_line, to_line};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// `armorc compile` output for shop/web/nginx (see scripts/fuzz.sh for how the corpus is made).
const IMAGE: &[u8] = include_bytes!("../corpus/map_image/shop-web-nginx.img");

fn model() -> &'static (MapImage, Model) {
    static M: OnceLock<(MapImage, Model)> = OnceLock::new();
    M.get_or_init(|| {
        let image = MapImage::decode(IMAGE).expect("the embedded image decodes");
        let model = Model::new(&image);
        (image, model)
    })
}

fuzz_target!(|data: &[u8]| {
    let (image, model) = model();
    let mut reader = std::io::Cursor::new(data);
    let mut buf = Vec::new();
    // Errors end the run as in `armorc query` (exit 1); every line read is answered.
    while let Ok(true) = read_line(&mut reader, &mut buf) {
        let Ok(line) = std::str::from_utf8(&buf) else { return };
        match parse_line(line) {
            Ok(q) => {
                let answer = answer_operation(image, &model.decide_operation(&q));
                let back = to_line(&q);
                match parse_line(&back) {
                    Ok(q2) => {
                        assert_eq!(q2.op, q.op, "to_line changed the op: {back}");
                        let again = answer_operation(image, &model.decide_operation(&q2));
                        assert_eq!(again, answer, "to_line changed the answer: {line} -> {back}");
                    }
                    Err(e) => panic!("to_line wrote a line parse_line refuses ({e}): {back}"),
                }
            }
            Err(e) => {
                let _ = error_answer(&e.to_string());
            }
        }
    }
});
