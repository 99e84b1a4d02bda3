use portico::prelude::*;

#[derive(Deserialize)]
struct Note {
    text: String,
}

#[route(POST, "/notes")]
async fn create(raw: String, note: Json<Note>) -> String {
    format!("{raw} {}", note.text)
}

fn main() {}
